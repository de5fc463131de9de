"""The topic layout derived from a catalogue."""

from __future__ import annotations

from bus import catalogue_topic_specs, parse_gateway_group_id
from contracts import load_catalogue


def test_demo_catalogue_topics_follow_the_design_layout() -> None:
    """One request + one DLQ topic per service major, a reply topic per group, one audit."""
    catalogue = load_catalogue()
    specs = catalogue_topic_specs(
        catalogue,
        gateway_groups=[parse_gateway_group_id("town-hall"), parse_gateway_group_id("dev")],
        request_partitions=6,
        reply_partitions=4,
        replication_factor=3,
    )
    by_name = {spec.topic.name: spec for spec in specs}
    assert len(by_name) == len(specs)
    assert by_name["interop.audit"].partitions == 1
    assert by_name["interop.rep.town-hall"].partitions == 4
    assert by_name["interop.rep.dev"].partitions == 4
    # register.residence-certificate has majors 1 and 2; the others only major 1.
    expected_requests = {
        "interop.req.register.residence-certificate.v1",
        "interop.req.register.residence-certificate.v2",
        "interop.req.tax.income-band.v1",
        "interop.req.socialsecurity.employment-status.v1",
    }
    assert {n for n in by_name if n.startswith("interop.req.")} == expected_requests
    assert {n for n in by_name if n.startswith("interop.dlq.")} == {
        n.replace("interop.req.", "interop.dlq.") for n in expected_requests
    }
    assert all(by_name[n].partitions == 6 for n in expected_requests)
    assert {spec.replication_factor for spec in specs} == {3}
