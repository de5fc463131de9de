# Minimal typed surface of aiokafka's admin protocol requests: the ACL ones
# (bus/acl_admin.py: aiokafka has the wire classes but no admin API for them) and
# DescribeConfigs (bus/replication_health.py: sent to a broker that answers).
from typing import Any

class Request: ...

class DescribeAclsRequest(Request):
    def __init__(
        self,
        resource_type: int,
        resource_name: str | None,
        resource_pattern_type_filter: int,
        principal: str | None,
        host: str | None,
        operation: int,
        permission_type: int,
    ) -> None: ...

class CreateAclsRequest(Request):
    def __init__(
        self,
        resource_type: int,
        resource_name: str,
        resource_pattern_type_filter: int,
        principal: str,
        host: str,
        operation: int,
        permission_type: int,
    ) -> None: ...

class DeleteAclsRequest(Request):
    def __init__(
        self,
        resource_type: int,
        resource_name: str | None,
        resource_pattern_type_filter: int,
        principal: str | None,
        host: str | None,
        operation: int,
        permission_type: int,
    ) -> None: ...

class DescribeConfigsRequest(Request):
    def __init__(self, resources: list[Any], include_synonyms: bool = ...) -> None: ...
