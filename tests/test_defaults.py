"""The rows every database needs survive a flush (transactional tests empty the tables)."""

import pytest
from django.core.management import call_command

from chatter.models import MessageSubtype
from mailcore.models import AliasDomain


@pytest.mark.django_db(transaction=True)
def test_flush_brings_back_alias_domain_and_subtypes() -> None:
    call_command("flush", interactive=False, verbosity=0)
    assert AliasDomain.objects.count() == 1
    codes = set(MessageSubtype.objects.values_list("code", flat=True))
    assert {"mt_comment", "mt_note", "demo.mt_lead_stage", "demo.mt_ticket_solved"} <= codes


@pytest.mark.django_db
def test_defaults_are_not_duplicated_by_a_second_migrate_signal() -> None:
    from django.apps import apps

    from mailcore.defaults import ensure_defaults_after_migrate

    for label in ("mailcore", "chatter", "demo"):
        ensure_defaults_after_migrate(apps.get_app_config(label))
    assert AliasDomain.objects.count() == 1
    assert MessageSubtype.objects.filter(code="mt_comment").count() == 1
