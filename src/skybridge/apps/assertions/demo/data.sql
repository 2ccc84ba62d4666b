-- Demo data for `skybridge up --demo` (valid under every assertion), then one legacy ticket
-- imported while ticket_requires_active_sla was disabled: ENABLE NOVALIDATE enforces the rule
-- for new rows and leaves the old violation for "Check now" to find.
INSERT INTO customers VALUES (1, 'Acme Corp');
INSERT INTO customers VALUES (2, 'Globex');
INSERT INTO customers VALUES (3, 'Initech');
INSERT INTO engineers VALUES (10, 'Alice', 'SENIOR');
INSERT INTO engineers VALUES (11, 'Bob', 'JUNIOR');
INSERT INTO engineers VALUES (12, 'Chandra', 'MID');
INSERT INTO slas VALUES (100, 1, 'ACTIVE', '2026-01-01', '2026-12-31');
INSERT INTO sla_services VALUES (100, 'EMAIL');
INSERT INTO sla_services VALUES (100, 'PHONE');
INSERT INTO slas VALUES (101, 3, 'ACTIVE', '2026-01-01', '2026-06-30');
INSERT INTO sla_services VALUES (101, 'ONSITE');
INSERT INTO tickets VALUES (1000, 1, 11, 'MEDIUM', '2026-03-01');
INSERT INTO tickets VALUES (1001, 1, 10, 'CRITICAL', '2026-03-02');
INSERT INTO tickets VALUES (1002, 3, 12, 'HIGH', '2026-04-15');
ALTER ASSERTION ticket_requires_active_sla DISABLE;
INSERT INTO tickets VALUES (900, 2, 12, 'LOW', '2025-11-20');
ALTER ASSERTION ticket_requires_active_sla ENABLE NOVALIDATE
