-- 100,000 customers and 1,000,000 orders over the last two years, generated deterministically.
SELECT setseed(0.42);

INSERT INTO shop.customers (id, email, name, country, created_at)
SELECT g,
       'customer' || g || '@example.com',
       'Customer ' || g,
       (ARRAY['DE', 'FR', 'US', 'GB', 'NL', 'SE'])[1 + (g % 6)],
       now() - (g % 730) * interval '1 day'
  FROM generate_series(1, 100000) AS g;

INSERT INTO shop.orders (id, customer_id, status, total_cents, created_at)
SELECT g,
       1 + (hashint4(g)::bigint & 2147483647) % 100000,
       (ARRAY['paid', 'paid', 'paid', 'shipped', 'shipped', 'delivered', 'delivered', 'delivered', 'refunded', 'cancelled'])[1 + (g % 10)],
       500 + (hashint4(g + 7)::bigint & 2147483647) % 50000,
       now() - ((g::float8 / 1000000) * 730) * interval '1 day'
  FROM generate_series(1, 1000000) AS g;
