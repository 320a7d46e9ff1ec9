from tests.chat.conftest import engine

__all__ = ["engine"]
