"""Which topics a catalogue needs: the layout of DESIGN.md, as ``TopicSpec``s.

One request topic and one dead-letter topic per service major version, one reply topic
per gateway group, and the single-partition audit topic (its one partition is the total
order the Merkle log is built over, so it is never partitioned further).
"""

from __future__ import annotations

from collections.abc import Sequence

from bus.admin import TopicSpec
from bus.ids import GatewayGroupId, parse_service_id
from bus.topics import AUDIT_TOPIC, ReplyTopic, RequestTopic
from contracts.catalogue import Catalogue

__all__ = ["catalogue_topic_specs"]


def catalogue_topic_specs(
    catalogue: Catalogue,
    *,
    gateway_groups: Sequence[GatewayGroupId],
    request_partitions: int,
    reply_partitions: int,
    replication_factor: int,
) -> list[TopicSpec]:
    """The topics ``catalogue`` and ``gateway_groups`` need, in a stable order."""
    specs: list[TopicSpec] = [
        TopicSpec(AUDIT_TOPIC, partitions=1, replication_factor=replication_factor)
    ]
    for group in gateway_groups:
        specs.append(
            TopicSpec(
                ReplyTopic(group),
                partitions=reply_partitions,
                replication_factor=replication_factor,
            )
        )
    for service_id in sorted(catalogue.services):
        service = catalogue.services[service_id]
        for major in sorted(service.majors()):
            request = RequestTopic(parse_service_id(service_id), major)
            specs.append(
                TopicSpec(
                    request, partitions=request_partitions, replication_factor=replication_factor
                )
            )
            specs.append(
                TopicSpec(request.dead_letter, partitions=1, replication_factor=replication_factor)
            )
    return specs
