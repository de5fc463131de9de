"""An AsyncAPI 3.0 description of the catalogue: request topics, reply topic, messages.

One channel per service major (``interop.req.<service>.v<major>``, the topic ``bus``
creates) and one shared reply channel (``interop.rep.{gatewayGroup}``). Each contract
version contributes a request and a response message whose payload is its Avro schema
(``schemaFormat`` ``application/vnd.apache.avro+json;version=1.9.0``) framed the
Confluent way, which the Kafka message binding states. One ``send`` operation per
service major lists its request messages and, as its reply, the response messages.

The document is a plain ``dict`` ready for ``json.dumps``; contracts knows no Kafka
client, only the names.
"""

from __future__ import annotations

from typing import Any, Final

from contracts.catalogue import Catalogue, ContractVersion, Service
from contracts.lockfile import LockFile, Role

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document"]

ASYNCAPI_VERSION: Final = "3.0.0"
_AVRO_FORMAT: Final = "application/vnd.apache.avro+json;version=1.9.0"
_REPLIES: Final = "replies"


def _ref(*parts: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(parts)}


def _message_key(service: Service, item: ContractVersion, role: Role) -> str:
    return f"{service.id}.{item.version}.{role}"


def _message(service: Service, item: ContractVersion, role: Role, lock: LockFile) -> dict[str, Any]:
    schema = item.request if role == "request" else item.response
    message: dict[str, Any] = {
        "name": _message_key(service, item, role),
        "title": f"{service.meta.title} {item.version} {role}",
        "summary": schema.get("doc", "") if isinstance(schema, dict) else "",
        "contentType": "application/avro",
        "payload": {"schemaFormat": _AVRO_FORMAT, "schema": schema},
        "bindings": {
            "kafka": {
                "schemaIdLocation": "payload",
                "schemaIdPayloadEncoding": "confluent",
                "bindingVersion": "0.5.0",
            }
        },
        "x-interop-status": item.meta.status.value,
    }
    if item.meta.sunset_date is not None:
        message["x-interop-sunset-date"] = item.meta.sunset_date.isoformat()
    entry = lock.entry(service.id, str(item.version), role)
    if entry is not None:
        message["x-schema-id"] = entry.id
    return message


def asyncapi_document(catalogue: Catalogue, lock: LockFile) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for every service, major and version of ``catalogue``."""
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    reply_refs: dict[str, Any] = {}
    for service in catalogue.services.values():
        for major, minors in service.majors().items():
            channel = f"{service.id}.v{major}"
            request_refs: dict[str, Any] = {}
            response_keys: list[str] = []
            for item in minors:
                for role in ("request", "response"):
                    key = _message_key(service, item, role)
                    messages[key] = _message(service, item, role, lock)
                    if role == "request":
                        request_refs[key] = _ref("components", "messages", key)
                    else:
                        reply_refs[key] = _ref("components", "messages", key)
                        response_keys.append(key)
            channels[channel] = {
                "address": f"interop.req.{channel}",
                "title": f"{service.meta.title}, major {major}",
                "description": service.meta.description,
                "messages": request_refs,
                "x-interop-consent-mode": service.meta.consent_mode.value,
                "x-interop-providers": list(service.meta.providers),
                "x-interop-purposes": list(service.meta.purposes),
                "x-interop-timeout-ms": service.meta.timeout_ms,
            }
            operations[f"request.{channel}"] = {
                "action": "send",
                "channel": _ref("channels", channel),
                "summary": f"Ask {', '.join(service.meta.providers)}: {service.meta.title}",
                "messages": [_ref("channels", channel, "messages", k) for k in request_refs],
                "reply": {
                    "channel": _ref("channels", _REPLIES),
                    "messages": [_ref("channels", _REPLIES, "messages", k) for k in response_keys],
                },
            }
    channels[_REPLIES] = {
        "address": "interop.rep.{gatewayGroup}",
        "title": "Replies to one gateway group",
        "description": "Shared by every service; each gateway replica owns some partitions.",
        "parameters": {"gatewayGroup": {"description": "The gateway group the reply goes to."}},
        "messages": reply_refs,
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "interop-bus contract catalogue",
            "version": str(len(lock.schemas)),
            "description": "Request and reply topics and messages of every catalogue service.",
        },
        "defaultContentType": "application/avro",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
