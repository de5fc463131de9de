# Minimal typed surface of aiokafka.conn that interop-bus uses (bus/kafka_security.py:
# one direct connection to tell why a secured bootstrap fails).
import ssl

class AIOKafkaConnection:
    def close(self, reason: int | None = ..., exc: BaseException | None = ...) -> None: ...

async def create_conn(
    host: str,
    port: int,
    *,
    client_id: str = ...,
    request_timeout_ms: int = ...,
    ssl_context: ssl.SSLContext | None = ...,
    security_protocol: str = ...,
    sasl_mechanism: str | None = ...,
    sasl_plain_username: str | None = ...,
    sasl_plain_password: str | None = ...,
) -> AIOKafkaConnection: ...
