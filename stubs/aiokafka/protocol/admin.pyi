# Typed surface of aiokafka's DescribeConfigs request (bus/replication_health.py).
from typing import Any

class DescribeConfigsRequest:
    def __init__(self, resources: list[Any], include_synonyms: bool = ...) -> None: ...
