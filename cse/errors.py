"""The one exception family of the CSE, carrying a oneM2M response status code."""

from cse.constants import ResponseStatusCode as RSC


class M2MError(Exception):
    """A request failed with a oneM2M response status code and a readable message."""

    rsc: RSC = RSC.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, rsc: RSC | None = None) -> None:
        super().__init__(message)
        self.message = message
        if rsc is not None:
            self.rsc = rsc


class BadRequest(M2MError):
    rsc = RSC.BAD_REQUEST


class NotFound(M2MError):
    rsc = RSC.NOT_FOUND


class OperationNotAllowed(M2MError):
    rsc = RSC.OPERATION_NOT_ALLOWED


class NoPrivilege(M2MError):
    rsc = RSC.ORIGINATOR_HAS_NO_PRIVILEGE


class Conflict(M2MError):
    rsc = RSC.CONFLICT


class AlreadyRegistered(M2MError):
    rsc = RSC.ORIGINATOR_HAS_ALREADY_REGISTERED


class NotAcceptable(M2MError):
    rsc = RSC.NOT_ACCEPTABLE


class UnsupportedRelease(M2MError):
    rsc = RSC.RELEASE_VERSION_NOT_SUPPORTED


class RequestExpired(M2MError):
    rsc = RSC.REQUEST_TIMEOUT


class UnsupportedMediaType(M2MError):
    rsc = RSC.UNSUPPORTED_MEDIA_TYPE
