"""A contact's language (Odoo's ``lang``) defaults to the company's and is one of the product's."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from mailcore.models import Partner

pytestmark = pytest.mark.django_db


def test_new_contact_gets_the_company_language() -> None:
    assert Partner.objects.create(name="A", email="a@example.com").lang == "en"
    with override_settings(MAILCORE_DEFAULT_LANGUAGE="fr"):
        assert Partner.objects.create(name="B", email="b@example.com").lang == "fr"


def test_language_outside_the_product_languages_is_refused() -> None:
    partner = Partner(name="C", email="c@example.com", lang="de")
    with pytest.raises(ValidationError) as excinfo:
        partner.full_clean()
    assert "lang" in excinfo.value.message_dict
    partner.lang = "zh-hans"
    partner.full_clean()
