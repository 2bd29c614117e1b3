"""The one error hierarchy of meter2cash.

Every layer raises these; entry points map them: the CLI to exit codes
(``InputError`` -> 2, anything else -> 1), the API to problem+json responses
(``InputError`` -> 400/422, ``NotFoundError`` -> 404, ``ConflictError`` -> 409).
Storage and Ray exceptions are translated into this tree at the layer boundary.

::

    M2CError
    ├── InputError                 bad input from a user; exit 2 / HTTP 4xx
    │   ├── ValidationError        a file, row or field is wrong (names file, line, field)
    │   │   └── ValueRangeError    a value beyond the exact int64 arithmetic (also an OverflowError)
    │   ├── UnknownReferenceError  unknown site, channel, contract, index, ...
    │   └── ContractError          a contract document or amendment is invalid
    │       └── FieldError         one term parameter is invalid (path inside the contract)
    ├── NotFoundError              the thing asked for does not exist (HTTP 404)
    ├── ConflictError              state forbids it: approved invoice, terminal job (HTTP 409)
    ├── DataMissingError           settlement inputs missing (prices, index values)
    ├── InfeasibleError            an optimisation has no solution (a what-if battery LP)
    ├── StorageError               the object store or table format failed
    │   └── IntegrityError         a stored object does not match its committed manifest
    └── JobError                   a job could not run or finish
        └── JobCancelledError      the job was cancelled
"""
from __future__ import annotations


class M2CError(Exception):
    """Base of every meter2cash error."""


class InputError(M2CError):
    """Bad input from a user. CLI exit code 2; HTTP 4xx."""


class ValidationError(InputError):
    """A file, row or field failed validation.

    ``file``, ``line`` (1-based, as an editor shows it) and ``field`` locate the
    first problem; ``problems`` may carry more of them, each already formatted.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None, problems: list[str] | None = None):
        self.file, self.line, self.field = file, line, field
        self.problems = problems or []
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        fld = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{fld}{message}")


class ValueRangeError(ValidationError, OverflowError):
    """A sum or product of energies, rates or amounts would leave the exact int64 range
    (``engine.money``); the message names the element (site, channels, interval) and
    its operands. An input error (a value too large to bill), and an ``OverflowError``
    for code that catches arithmetic overflow."""


class UnknownReferenceError(InputError):
    """A referenced site, channel, contract, index or price node is not known."""


class ContractError(InputError):
    """A contract document or amendment does not validate."""


class FieldError(ContractError):
    """A term parameter is invalid; ``path`` is the field path inside the contract.

    Raised by the term kinds' ``parse`` (``engine/terms/``), which do not know the
    contract; ``engine.contract.parse_contract`` re-raises it as a ``ContractError``
    naming the contract, version and ``path``.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


class NotFoundError(M2CError):
    """The requested object does not exist."""


class ConflictError(M2CError):
    """The current state forbids the operation (e.g. an approved invoice is immutable)."""


class DataMissingError(M2CError):
    """Settlement inputs are missing; the message says which and for which intervals."""


class InfeasibleError(M2CError):
    """An optimisation has no feasible (or no bounded) solution: a scenario variant's
    battery re-dispatch; the variant fails with this reason, the others complete."""


class StorageError(M2CError):
    """The object store or the table format failed."""


class IntegrityError(StorageError):
    """A stored object's bytes do not match the hash its committed manifest recorded
    (tampered with or corrupted): it is refused, never served."""


class JobError(M2CError):
    """A job could not run or finish."""


class JobCancelledError(JobError):
    """The job was cancelled."""


def error_class(name: str | None) -> type[M2CError]:
    """The class of this hierarchy called ``name`` (e.g. a job's recorded
    ``error_type``, which crossed a process boundary as a string); ``JobError`` for a
    name outside the hierarchy (an unexpected exception)."""
    cls = globals().get(name or "")
    return cls if isinstance(cls, type) and issubclass(cls, M2CError) else JobError


__all__ = [
    "error_class", "M2CError", "InputError", "ValidationError", "ValueRangeError",
    "UnknownReferenceError", "ContractError",
    "FieldError", "NotFoundError", "ConflictError", "DataMissingError", "InfeasibleError", "StorageError",
    "IntegrityError", "JobError",
    "JobCancelledError",
]
