-- An online shop: customers and their orders. Tables live in their own schema so that the demo
-- can run on a shared staging database without touching anything else.
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;

CREATE TABLE shop.customers (
  id          bigint PRIMARY KEY,
  email       text NOT NULL,
  name        text NOT NULL,
  country     text NOT NULL,
  created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX customers_email_idx ON shop.customers (email);

CREATE TABLE shop.orders (
  id           bigint PRIMARY KEY,
  customer_id  bigint NOT NULL REFERENCES shop.customers (id),
  status       text NOT NULL,
  total_cents  integer NOT NULL,
  created_at   timestamptz NOT NULL
);
CREATE INDEX orders_customer_id_created_at_idx ON shop.orders (customer_id, created_at DESC);
CREATE INDEX orders_created_at_idx ON shop.orders (created_at);
