# Minimal hand-written stubs: aiokafka ships no type information (no py.typed).
# Only what interop-bus calls is declared; extend as the bus grows.
from aiokafka.structs import ConsumerRecord as ConsumerRecord
from aiokafka.structs import TopicPartition as TopicPartition

__version__: str
