"""One router per kind of API object."""
