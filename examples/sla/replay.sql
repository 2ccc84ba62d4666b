-- The article's statements in order. Each block between "-- txn:" markers is one transaction;
-- "expect: <assertion>" marks the ones that must fail naming that assertion.
-- txn: reference data
INSERT INTO customers VALUES (1, 'Acme Corp');
INSERT INTO customers VALUES (2, 'Globex');
INSERT INTO engineers VALUES (10, 'Alice', 'SENIOR');
INSERT INTO engineers VALUES (11, 'Bob', 'JUNIOR');
-- txn: Acme's SLA with its services (deferred rule: SLA first, services after, one transaction)
INSERT INTO slas VALUES (100, 1, 'ACTIVE', '2026-01-01', '2026-12-31');
INSERT INTO sla_services VALUES (100, 'EMAIL');
INSERT INTO sla_services VALUES (100, 'PHONE');
-- txn: a normal ticket for Acme, assigned to a junior engineer
INSERT INTO tickets VALUES (1000, 1, 11, 'MEDIUM', '2026-03-01');
-- txn: a critical ticket for Acme, assigned to a senior engineer
INSERT INTO tickets VALUES (1001, 1, 10, 'CRITICAL', '2026-03-02');
-- txn: expect: ticket_requires_active_sla (Globex has no SLA)
INSERT INTO tickets VALUES (1002, 2, 10, 'LOW', '2026-03-03');
-- txn: expect: critical_tickets_need_senior_engineer (critical ticket to a junior)
INSERT INTO tickets VALUES (1003, 1, 11, 'CRITICAL', '2026-03-04');
-- txn: expect: sla_must_have_services (an SLA without services fails at COMMIT)
INSERT INTO slas VALUES (101, 2, 'ACTIVE', '2026-01-01', '2026-12-31');
