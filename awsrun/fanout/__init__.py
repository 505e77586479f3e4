"""--each-role: the plan of many roles, the run (credentials per role, children), the children's
streams and signals, and the report."""
