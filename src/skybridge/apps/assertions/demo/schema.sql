-- SLA ticketing schema (reconstructed from the article, see examples/sla/README.md). Portable: PostgreSQL and SQLite.
CREATE TABLE customers (
  customer_id INTEGER PRIMARY KEY,
  name        VARCHAR(100) NOT NULL
);
CREATE TABLE engineers (
  engineer_id INTEGER PRIMARY KEY,
  name        VARCHAR(100) NOT NULL,
  seniority   VARCHAR(10) NOT NULL CHECK (seniority IN ('JUNIOR', 'MID', 'SENIOR'))
);
CREATE TABLE slas (
  sla_id      INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
  status      VARCHAR(10) NOT NULL CHECK (status IN ('ACTIVE', 'EXPIRED', 'SUSPENDED')),
  start_date  DATE NOT NULL,
  end_date    DATE NOT NULL
);
CREATE TABLE sla_services (
  sla_id       INTEGER NOT NULL REFERENCES slas (sla_id) DEFERRABLE INITIALLY DEFERRED,
  service_name VARCHAR(50) NOT NULL,
  PRIMARY KEY (sla_id, service_name)
);
CREATE TABLE tickets (
  ticket_id   INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
  assigned_to INTEGER REFERENCES engineers (engineer_id),
  priority    VARCHAR(10) NOT NULL CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
  created_on  DATE NOT NULL
);
CREATE INDEX tickets_customer ON tickets (customer_id);
CREATE INDEX tickets_assigned ON tickets (assigned_to);
