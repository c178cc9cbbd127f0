"""What every compiled `when` condition is (conditions.py declares the kinds; a kind in a module
of its own, such as queue_load.py, builds on this without importing the table)."""

from __future__ import annotations

from decision.engine.subject import Subject


class Condition:
    """One `when` key. `key` is how the rules file spells it, for errors and explain."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def test(self, subject: Subject) -> bool:
        raise NotImplementedError
