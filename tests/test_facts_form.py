"""The incident facts form (notifier/console/facts_form.py): facts → form → facts loses nothing, a browser's
CRLF and a false flag change nothing, missing translations are flagged per language, and what the form
has no field for travels as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from notifier.config import PROJECT_ROOT
from notifier.console.facts_form import (
    OTHER,
    facts_from_form,
    form_sections,
    form_values,
    problem_links,
)
from notifier.errors import InputError
from notifier.notices.content import load_content
from notifier.notices.incidents import Incident, load_incident_file, parse_incident
from notifier.notices.records import changed_fields

SAMPLES = [
    PROJECT_ROOT / "templates" / "samples" / "complete.json",
    PROJECT_ROOT / "templates" / "samples" / "minimal.json",
    PROJECT_ROOT / "notifier" / "demo" / "incident.json",
]
LOCALES = ("en", "ru", "vi")


CATEGORIES = {name: c.label for name, c in load_content(PROJECT_ROOT / "templates").categories.items()}


def _as_posted(facts: dict[str, Any]) -> dict[str, list[str]]:
    """What a browser posts for the form showing ``facts``: every text box (empty ones too), the select's
    choice, the ticked boxes only, every input, and the other facts' JSON."""
    values = form_values(facts)
    posted: dict[str, list[str]] = {OTHER: values[OTHER]}
    for section in form_sections(values, locales=LOCALES, categories=CATEGORIES, new=True):
        for f in section.fields:
            if f.spec.kind == "texts":
                posted.update({f"{f.name}.{box.language}": [box.value] for box in f.boxes})
            elif f.spec.kind == "flag":
                posted.update({f.name: ["on"]} if f.checked else {})
            elif f.spec.kind in ("choice", "categories"):
                posted[f.name] = [value for value, _label, chosen in f.options if chosen]
            else:
                posted[f.name] = [f.value]
    return posted


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_facts_come_back_from_the_form_a_browser_posts_exactly_as_they_were(path: Path) -> None:
    facts = load_incident_file(path)
    posted = _as_posted(facts)
    assert facts_from_form(posted, key=str(facts["key"]), original=facts) == facts
    fresh = facts_from_form(posted, key=None, original=None)  # a new incident: no stored spelling to keep
    assert set(changed_fields(facts, fresh)) <= {"law_enforcement_delay", "occurred", "data_categories"}
    assert set(fresh["data_categories"]) == set(facts["data_categories"])  # in the form's order
    assert bool(fresh.get("law_enforcement_delay")) == bool(facts.get("law_enforcement_delay"))
    assert parse_incident(fresh, PROJECT_ROOT / "templates").occurred == incident_of(facts).occurred


def incident_of(facts: dict[str, Any]) -> Incident:
    return parse_incident(facts, PROJECT_ROOT / "templates")


def test_every_fact_without_a_field_travels_as_json_and_every_text_gets_a_box_per_language() -> None:
    facts = load_incident_file(SAMPLES[0])
    values = form_values(facts)
    other = json.loads(values[OTHER][0])
    assert set(other) == {"law_enforcement_hold", "regimes", "filings", "offers", "contact"}
    assert set(other["contact"]) == {"by_country"}  # the contact's own fields have fields
    assert values["fact.what_happened.ru"] == [facts["what_happened"]["ru"]]
    assert values["fact.data_categories"] == facts["data_categories"]


def _values(facts: dict[str, Any]) -> dict[str, list[str]]:
    return {name: list(v) for name, v in form_values(facts).items()}


def test_a_browsers_line_ends_spaces_and_order_of_boxes_are_not_a_change() -> None:
    facts = load_incident_file(SAMPLES[2])
    values = _values(facts)
    values["fact.measures.en"] = [" " + values["fact.measures.en"][0].replace("\n", "\r\n") + "\r\n"]
    values["fact.data_categories"] = sorted(values["fact.data_categories"])  # the form's order of the boxes
    assert facts_from_form(values, key=str(facts["key"]), original=facts) == facts


def test_a_cleared_box_removes_that_language_and_a_cleared_text_removes_the_fact() -> None:
    facts = load_incident_file(SAMPLES[0])
    values = _values(facts)
    values["fact.measures.vi"] = [""]
    for language in LOCALES:
        values[f"fact.consequences.{language}"] = [""]
    values["fact.contact.phone"] = ["+1 800 555 0142"]
    edited = facts_from_form(values, key=str(facts["key"]), original=facts)
    assert set(edited["measures"]) == {"en", "ru"} and "consequences" not in edited
    assert sorted(changed_fields(facts, edited)) == ["consequences", "contact.phone", "measures.vi"]


def test_missing_translations_are_flagged_by_language_beside_the_filled_ones() -> None:
    facts = load_incident_file(SAMPLES[2])
    values = _values(facts)
    values["fact.measures.vi"] = ["   "]
    values["fact.what_happened.de"] = ["Ein Angreifer …"]  # a language without a catalog still shows
    sections = form_sections(values, locales=LOCALES, categories={"email": "email: Your email"}, new=False)
    fields = {f.spec.dotted: f for s in sections for f in s.fields}
    assert fields["measures"].missing == ("vi",)
    assert [b.language for b in fields["what_happened"].boxes] == ["en", "ru", "vi", "de"]
    assert fields["what_happened"].missing == ()
    assert fields["consequences"].missing == ()  # filled in every language
    assert "key" not in fields  # a revision never changes the key
    empty = form_sections({}, locales=LOCALES, categories={}, new=True)
    first = {f.spec.dotted: f for s in empty for f in s.fields}
    assert "key" in first and first["what_happened"].missing == ()  # nothing to compare with yet


def test_hours_written_once_for_every_language_stay_one_text() -> None:
    facts = load_incident_file(SAMPLES[1])
    facts["contact"]["hours"] = "24/7"
    values = _values(facts)
    assert values["fact.contact.hours.*"] == ["24/7"]
    sections = form_sections(values, locales=LOCALES, categories={}, new=False)
    hours = next(f for s in sections for f in s.fields if f.spec.dotted == "contact.hours")
    assert [b.language for b in hours.boxes] == ["*"]
    assert facts_from_form(values, key=str(facts["key"]), original=facts) == facts


def test_broken_other_facts_are_refused_saying_where() -> None:
    values = _values(load_incident_file(SAMPLES[1]))
    values[OTHER] = ['{"offers": [}']
    with pytest.raises(InputError, match=r"other facts: line 1, column 13: invalid JSON"):
        facts_from_form(values, key=None, original=None)
    values[OTHER] = ["[1, 2]"]
    with pytest.raises(InputError, match="must be one JSON object"):
        facts_from_form(values, key=None, original=None)


def test_each_problem_links_to_the_field_it_is_about() -> None:
    problems = {
        "update.previous_notice_date '9 Nov' is not a date": "fact-update-previous-notice-date",
        "discovered_at 'yesterday' is not an ISO-8601 date-time with offset": "fact-discovered-at",
        "determined_at is before discovered_at": "fact-determined-at",
        "missing 'title'": "fact-title",
        "company needs legal_name and brand": "fact-company-legal-name",
        "contact needs at least one of phone, email, url": "fact-contact-phone",
        "what_is_new must be an object of texts by language": "fact-update-what-is-new",
        "unknown data categories ['dna']; known: name, email": "fact-data-categories",
        "filings[0]: unknown keys ['key']": OTHER,
        "offers[0].months must be a whole number": OTHER,
        "contact.by_country.RU needs at least one of phone, email, url": OTHER,
        "other facts: line 1, column 13: invalid JSON": OTHER,
        "say what changed and why: the comment is kept with the revision": "comment",
        "incident 'x' is at revision 3 now": "",
    }
    assert dict(problem_links(problems)) == problems
