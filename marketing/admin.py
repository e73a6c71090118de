from django.contrib import admin

from marketing.models import MailingList, MailingSubscription


class MailingSubscriptionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MailingSubscription
    raw_id_fields = ["contact"]
    extra = 0


@admin.register(MailingList)
class MailingListAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "is_public", "active", "created_at"]
    search_fields = ["name"]
    inlines = [MailingSubscriptionInline]
