-- The sample shop database of the README quickstart. `outpost` builds shop.db from this script at run time;
-- no binary database is checked in. SQLite has no object comments, so the catalog carries none.
PRAGMA foreign_keys = ON;

CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    name        VARCHAR(80) NOT NULL UNIQUE,
    parent_id   INTEGER REFERENCES categories (category_id) ON DELETE SET NULL
);

CREATE TABLE products (
    product_id  INTEGER PRIMARY KEY,
    sku         VARCHAR(32) NOT NULL,
    name        TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories (category_id) ON DELETE RESTRICT,
    unit_price  DECIMAL(10, 2) NOT NULL CHECK (unit_price >= 0),
    is_active   BOOLEAN NOT NULL DEFAULT 1,
    attributes  JSON,
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT uq_products_sku UNIQUE (sku)
);
CREATE INDEX ix_products_category ON products (category_id) WHERE is_active;

CREATE TABLE customers (
    customer_id  INTEGER PRIMARY KEY,
    email        VARCHAR(255) NOT NULL,
    full_name    TEXT NOT NULL,
    country      CHAR(2),
    signed_up_on DATE NOT NULL DEFAULT (date('now')),
    email_domain TEXT GENERATED ALWAYS AS (lower(substr(email, instr(email, '@') + 1))) VIRTUAL
);
CREATE UNIQUE INDEX ux_customers_email ON customers (lower(email));

CREATE TABLE orders (
    order_id    INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    ordered_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    shipped_at  TIMESTAMP,
    CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (customer_id) ON DELETE CASCADE
);
CREATE INDEX ix_orders_customer ON orders (customer_id, ordered_at DESC);
CREATE INDEX ix_orders_open ON orders (ordered_at) WHERE status IN ('pending', 'paid');

CREATE TABLE order_items (
    order_id   INTEGER NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no    INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_price DECIMAL(10, 2) NOT NULL,
    CONSTRAINT pk_order_items PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;
CREATE INDEX ix_order_items_product ON order_items (product_id);

-- Orders per customer, ignoring cancelled ones.
CREATE VIEW customer_order_totals AS
SELECT c.customer_id, c.full_name, c.country,
       count(o.order_id) AS order_count, max(o.ordered_at) AS last_ordered_at
FROM customers AS c
LEFT JOIN orders AS o ON o.customer_id = c.customer_id AND o.status <> 'cancelled'
GROUP BY c.customer_id;

-- Best sellers by revenue.
CREATE VIEW top_products AS
SELECT p.product_id, p.sku, p.name, sum(i.quantity) AS units_sold, sum(i.quantity * i.unit_price) AS revenue
FROM order_items AS i
JOIN products AS p ON p.product_id = i.product_id
GROUP BY p.product_id
ORDER BY revenue DESC
LIMIT 10;

-- A view over a view: lineage points at customer_order_totals, not at its tables.
CREATE VIEW orders_by_country AS
SELECT country, count(*) AS customers, sum(order_count) AS orders
FROM customer_order_totals
GROUP BY country;

INSERT INTO categories (category_id, name, parent_id) VALUES
    (1, 'Outdoor', NULL), (2, 'Tents', 1), (3, 'Kitchen', NULL);
INSERT INTO products (product_id, sku, name, category_id, unit_price, attributes) VALUES
    (1, 'TENT-2P', 'Two-person tent', 2, 189.00, '{"weight_kg": 2.1}'),
    (2, 'STOVE-1', 'Camping stove', 1, 49.50, NULL),
    (3, 'MUG-STEEL', 'Steel mug', 3, 12.00, '{"volume_ml": 350}');
INSERT INTO customers (customer_id, email, full_name, country, signed_up_on) VALUES
    (1, 'ada@example.com', 'Ada Lovelace', 'GB', '2024-01-15'),
    (2, 'grace@example.org', 'Grace Hopper', 'US', '2024-03-02');
INSERT INTO orders (order_id, customer_id, status, ordered_at) VALUES
    (1, 1, 'shipped', '2024-04-01 10:00:00'), (2, 2, 'paid', '2024-04-03 16:30:00');
INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price) VALUES
    (1, 1, 1, 1, 189.00), (1, 2, 3, 2, 12.00), (2, 1, 2, 1, 49.50);

-- Row estimates for the catalog.
ANALYZE;
