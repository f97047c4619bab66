"""The OCPP-J central system: charge points become AEs of the resource tree."""
