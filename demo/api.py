"""JSON API of the demo records (leads, quotations, tickets), each with its chatter endpoints."""

from __future__ import annotations

from chatter.api import ThreadRecordSerializer, ThreadRecordViewSet
from demo.models import Lead, Quotation, Ticket


class LeadSerializer(ThreadRecordSerializer):
    class Meta:
        model = Lead
        fields = [
            "id",
            "name",
            "customer",
            "stage",
            "expected_revenue",
            "description",
            "created_at",
            "message_has_error",
        ]
        read_only_fields = ["created_at"]


class QuotationSerializer(ThreadRecordSerializer):
    class Meta:
        model = Quotation
        fields = ["id", "name", "customer", "state", "amount_total", "created_at", "message_has_error"]
        read_only_fields = ["created_at"]


class TicketSerializer(ThreadRecordSerializer):
    class Meta:
        model = Ticket
        fields = [
            "id",
            "name",
            "customer",
            "email_from",
            "priority",
            "stage",
            "description",
            "created_at",
            "message_has_error",
        ]
        read_only_fields = ["created_at"]


class LeadViewSet(ThreadRecordViewSet):
    """Leads (like Odoo CRM's ``crm.lead``) and their chatter."""

    queryset = Lead.objects.order_by("-id")
    serializer_class = LeadSerializer


class QuotationViewSet(ThreadRecordViewSet):
    """Quotations (like Odoo's ``sale.order``) and their chatter."""

    queryset = Quotation.objects.order_by("-id")
    serializer_class = QuotationSerializer


class TicketViewSet(ThreadRecordViewSet):
    """Helpdesk tickets and their chatter."""

    queryset = Ticket.objects.order_by("-id")
    serializer_class = TicketSerializer
