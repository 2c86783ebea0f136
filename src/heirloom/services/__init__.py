"""Services: the logic behind activities and routes, testable without Temporal."""
