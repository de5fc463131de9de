"""Legacy adapters: one package per kind (sql, rest, soap, file), all shaped by ``base``."""
