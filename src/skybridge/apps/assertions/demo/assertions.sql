-- Rule 1: no SLA, no support. A ticket needs an ACTIVE SLA of its customer covering its date.
CREATE ASSERTION ticket_requires_active_sla CHECK (
  ALL (SELECT * FROM tickets)
  SATISFY (EXISTS (SELECT 1 FROM slas
                   WHERE slas.customer_id = tickets.customer_id
                     AND slas.status = 'ACTIVE'
                     AND tickets.created_on BETWEEN slas.start_date AND slas.end_date))
);

-- Rule 2: critical tickets go to senior engineers (ANSI JOIN: Oracle 23.26.1 raises ORA-08697 here).
CREATE ASSERTION critical_tickets_need_senior_engineer CHECK (
  NOT EXISTS (SELECT 1
              FROM tickets t JOIN engineers e ON e.engineer_id = t.assigned_to
              WHERE t.priority = 'CRITICAL' AND e.seniority <> 'SENIOR')
);

-- Rule 3: an SLA lists at least one covered service; checked at COMMIT so the SLA and its
-- services can be inserted in either order within one transaction.
CREATE ASSERTION sla_must_have_services CHECK (
  ALL (SELECT * FROM slas)
  SATISFY (EXISTS (SELECT 1 FROM sla_services WHERE sla_services.sla_id = slas.sla_id))
) DEFERRABLE INITIALLY DEFERRED;
