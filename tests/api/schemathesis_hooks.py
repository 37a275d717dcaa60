"""The refusals of valid-looking requests that the OpenAPI document cannot state.

schemathesis's `positive_data_acceptance` check fails every 4xx to a request that the
document allows. The document states every length, pattern, range and nullability;
the rules below depend on data the fuzzer made earlier (what keys a tenant's custom
fields have, which users exist, whether a link was opened) or on relations between
values that JSON Schema has no words for. Each is accepted only with its own status
and the server's own message for it, on the operations that have the rule: any other
refusal still fails the run.
"""

import atexit
import collections
import json
import re
import sys

import schemathesis

# The domain's refusal of a key that is not the tenant's, or of a required one left out
# (a value that breaks its own rule reads "fields.<key>: ..." and is not excused).
FIELDS = r"fields\..+ (is not a custom field of this tenant|is required)"

# (method, path template, status, error code, the whole message as a regular
# expression, or None): a refusal that is not a defect.
DATA_RULES = [
    # The clock: a call is scheduled from now to a year ahead, a position was measured
    # within a day of now. The document states the absolute range (0 to the end of
    # 9999) and says so in words; the window moves with time, a served document does not.
    ("POST", "/api/interactions", 400, "bad-request", r"scheduled_at is Unix ms, not in the past and within a year"),
    ("PATCH", "/api/interactions/{id}", 400, "bad-request", r"scheduled_at must be in the next year"),
    ("POST", "/api/interactions/{id}/geo", 400, "bad-request", r"at is Unix ms within a day of now"),
    # `fields` may hold only the tenant's custom field keys, and must hold its required
    # ones: the keys are data (PATCH /api/tenants sets them), not schema.
    ("POST", "/api/interactions", 400, "bad-request", FIELDS),
    ("PATCH", "/api/interactions/{id}", 400, "bad-request", FIELDS),
    # `agent` must be a user the caller may see.
    ("POST", "/api/interactions", 400, "bad-request", r"agent: no such user"),
    # Custom field keys are unique within a tenant: uniqueness of one property of
    # array items is not expressible in JSON Schema (`uniqueItems` compares whole items).
    ("POST", "/api/tenants", 400, "bad-request", r"custom field .+ appears twice"),
    ("PATCH", "/api/tenants/{id}", 400, "bad-request", r"custom field .+ appears twice"),
    # A client link opens on the first device that opens it; the fuzzer, keeping no
    # cookies, is a new device each time.
    # (The page answers in HTML, for people: no error code.)
    ("GET", "/j/{code}", 410, None, None),
    ("POST", "/api/links/{code}", 410, "link-gone", None),
    # A device that has not opened the link yet must send the consent it accepted; one
    # that has, need not: which one the fuzzer is depends on its cookies.
    ("POST", "/api/links/{code}", 400, "bad-request", r"consent: the client must accept the consent text first"),
    # A screenshot's body must be a JPEG (bytes a schema cannot describe); which
    # sources a participant takes depends on who it is; `of` names a screenshot of the
    # same call (data).
    ("POST", "/api/interactions/{id}/screenshots", 400, "bad-request",
     r"the body is not a JPEG image \(send image/jpeg bytes\)|the JPEG has no size|the JPEG cannot carry EXIF: .*"
     r"|source .+ is not one this participant takes|of: the screenshot drawn on|of is for annotated screenshots"
     r"|of is not a screenshot of this call"),
    # A user id is data: the caller's own id is refused.
    ("DELETE", "/api/users/{id}", 400, "bad-request", r"you cannot delete yourself"),
]


def _error(response):
    """The error code and message of a JSON error answer; (None, "") otherwise."""
    try:
        body = json.loads(response.content)
        return body.get("error"), body.get("message", "")
    except (ValueError, AttributeError):
        return None, ""


# JSON bodies are read up to 64 KiB (the document says so): the encoded size of a body
# is not a JSON Schema notion (an emoji is 12 bytes escaped), so a large body may be
# refused as too large whatever it holds, valid or not; refused unread, it is neither
# "accepted" nor "rejected for its content".
TOO_LARGE = "Failed to buffer the request body: length limit exceeded"


# How many failures each rule excused, printed at the end (a rule that excuses
# thousands is worth a look).
EXCUSED = collections.Counter()


@atexit.register
def _report():
    for rule, n in sorted(EXCUSED.items()):
        print(f"excused {n:5} x {rule}", file=sys.stderr)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False (drop) for a refusal listed above; True (keep) for any other."""
    code = getattr(failure, "code", None)
    error, message = _error(response)
    if code in ("ST201", "ST202") and response.status_code == 413 and error == "too-large" and message == TOO_LARGE:
        EXCUSED[f"{code} 413 too-large"] += 1
        return False
    if code != "ST202":
        return True
    operation = case.operation
    for method, path, status, code, pattern in DATA_RULES:
        if (
            operation.method.upper() == method
            and operation.path == path
            and response.status_code == status
            and error == code
            and (pattern is None or re.fullmatch(pattern, message, re.S))
        ):
            EXCUSED[f"ST202 {method} {path} {status} {pattern or ''}"] += 1
            return False
    return True
