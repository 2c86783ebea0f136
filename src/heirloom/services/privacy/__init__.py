"""Privacy: the audit log of photo access, account erasure, and data export."""
