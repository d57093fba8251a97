-- A PostgreSQL catalog built to break naive extractors: quoted mixed case, spaces, '/' and '.' in names,
-- unicode, reserved words, 63-byte names, partitions, inheritance, views over views, a materialized view,
-- enums, domains, arrays, generated and identity columns, comments with quotes and newlines, and
-- cross-schema foreign keys. The tests check the extraction against exactly these objects.
CREATE SCHEMA "Sales Dept";
CREATE SCHEMA "a/b.c";
CREATE SCHEMA "схема";
CREATE SCHEMA restricted;
COMMENT ON SCHEMA "Sales Dept" IS 'Sales; it''s "quoted"';

CREATE TYPE "Sales Dept".mood AS ENUM ('sad', 'ok', 'it''s "fine"');
CREATE DOMAIN public.positive_int AS integer NOT NULL DEFAULT 1 CHECK (VALUE > 0);

CREATE TABLE public.customers (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    "Display Name" varchar(64) DEFAULT 'n/a',
    score public.positive_int,
    tags text[],
    created timestamptz DEFAULT now(),
    "Order" integer,
    doubled integer GENERATED ALWAYS AS ("Order" * 2) STORED,
    code char(8) COLLATE "C",
    CONSTRAINT customers_email_key UNIQUE (email),
    CONSTRAINT score_sane CHECK (score < 1000)
);
COMMENT ON TABLE public.customers IS 'People who buy; it''s "quoted"
and spans two lines';
COMMENT ON COLUMN public.customers.email IS 'Primary contact';

CREATE TABLE "Sales Dept"."Order Items" (
    order_id integer NOT NULL,
    line smallint NOT NULL,
    "select" text,
    mood "Sales Dept".mood,
    price numeric(12, 2) DEFAULT 0.00,
    PRIMARY KEY (order_id, line),
    CONSTRAINT "fk to customers" FOREIGN KEY (order_id) REFERENCES public.customers (id)
        ON DELETE CASCADE ON UPDATE SET NULL
);

CREATE TABLE "a/b.c"."x/y.z ""quoted""" (id bigint PRIMARY KEY, "ü表" text);
CREATE TABLE "схема"."ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt" (
    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" integer
);

CREATE TABLE public.events (id integer, happened date NOT NULL, payload jsonb) PARTITION BY RANGE (happened);
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- A foreign key to a partitioned table: PostgreSQL adds hidden per-partition clones that must not surface.
CREATE TABLE public.event_refs (event_id integer, happened date,
    CONSTRAINT event_refs_pkey PRIMARY KEY (event_id));
ALTER TABLE public.events ADD CONSTRAINT events_pkey PRIMARY KEY (id, happened);
ALTER TABLE public.event_refs ADD CONSTRAINT event_refs_event_fkey FOREIGN KEY (event_id, happened)
    REFERENCES public.events (id, happened);

CREATE TABLE public.base_log (id integer, note text);
CREATE TABLE public.child_log (extra uuid) INHERITS (public.base_log);

CREATE VIEW public.customer_emails AS SELECT id, email FROM public.customers;
CREATE VIEW "a/b.c"."view over view" AS SELECT e.email, o.price
    FROM public.customer_emails e JOIN "Sales Dept"."Order Items" o ON o.order_id = e.id;
CREATE MATERIALIZED VIEW public.mv_scores AS SELECT c.id, c.score FROM public.customers c;
CREATE UNIQUE INDEX mv_scores_id ON public.mv_scores (id);

CREATE INDEX customers_recent ON public.customers (created DESC) WHERE score > 10;
CREATE INDEX customers_lower_email ON public.customers (lower(email)) INCLUDE ("Display Name");
CREATE INDEX order_items_hash ON "Sales Dept"."Order Items" USING hash ("select");

CREATE FUNCTION public.add_one(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE FUNCTION public.add_one(x bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE PROCEDURE public.noop() LANGUAGE plpgsql AS $$ BEGIN END $$;

CREATE TABLE restricted.payroll (employee integer PRIMARY KEY, salary numeric);

INSERT INTO public.customers (email, score, "Order") SELECT 'c' || g || '@example.com', 5, g FROM generate_series(1, 50) g;
ANALYZE;
