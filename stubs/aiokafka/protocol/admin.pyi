# Minimal typed surface of aiokafka's ACL protocol requests (bus/acl_admin.py): aiokafka
# has the wire classes but no admin API for them.

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
