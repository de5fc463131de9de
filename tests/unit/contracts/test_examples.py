"""Request examples: valid against every catalogue version, and naming the subject."""

from __future__ import annotations

from contracts import example_request_data, json_to_avro, load_catalogue, subject_values


def test_every_version_has_a_valid_example_naming_the_subject() -> None:
    """``json_to_avro`` accepts each example; every subject field holds the subject."""
    catalogue = load_catalogue()
    checked = 0
    for service in catalogue.services.values():
        for version in service.versions:
            data = example_request_data(version, "12345678Z")
            json_to_avro(version.request, data)  # raises DataValidationError if invalid
            values = [v for _, v in subject_values(data, version.meta.subject_fields)]
            assert values == ["12345678Z"] * len(version.meta.subject_fields)
            checked += 1
    assert checked == 7
