"""What a service refuses, with a message a technician understands."""

from pydantic import ValidationError

# Field names as the screens label them; others are spelled out from their names.
FIELD_LABELS = {
    "observed_at": "Time seen",
    "occurred_at": "Time of incident",
    "effective_at": "Effective time",
    "reported_at": "Time reported",
    "started_at": "Start time",
    "ordered_at": "Order time",
    "late_reason": "Reason for late check",
    "moas_verbal": "MOAS verbal aggression",
    "moas_property": "MOAS aggression against property",
    "moas_self": "MOAS auto-aggression",
    "moas_physical": "MOAS physical aggression",
    "client_key": "Form key",
    "mrn": "MRN",
    "ended_at": "End time",
    "face_to_face_at": "Face-to-face evaluation time",
    "guardian_notified_at": "Guardian notice time",
    "patient_id": "Patient",
    "ward_id": "Ward",
    "session_id": "Group",
}


class ServiceError(Exception):
    """A refusal the screen shows as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(ServiceError):
    """The acting staff member may not do this (role, ward, or an inactive account)."""


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    """The request contradicts what is stored, e.g. another body under a used form key."""


class SignInFailed(ServiceError):
    pass


class InvalidInput(ServiceError):
    """Input that fails validation; `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def label(field: str) -> str:
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())


def explain(error: ValidationError) -> InvalidInput:
    """Turn pydantic's errors into sentences such as "Mood must be from 0 to 10."."""
    problems = []
    for item in error.errors(include_url=False):
        fields = [str(part) for part in item["loc"] if isinstance(part, str)]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "enum":
            message = "is not one of the choices offered"
        elif item["type"] == "extra_forbidden":
            message = "is not a field of this form"
        elif item["type"] == "missing":
            message = "is required"
        elif item["type"].startswith(("string_", "int_", "bool_", "greater_than", "less_than")):
            # pydantic's own wording ("String should have ..."): keep its substance, lower-cased.
            message = message[0].lower() + message[1:]
            message = message.removeprefix("input ").removeprefix("string ")
        if fields:
            problems.append(f"{label(fields[-1])} {message}.")
        else:
            problems.append(f"{message[0].upper()}{message[1:]}.")
    return InvalidInput(problems)
