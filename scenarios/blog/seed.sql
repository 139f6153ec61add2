INSERT INTO blog.authors SELECT g, 'author' || g FROM generate_series(1, 500) g;
INSERT INTO blog.posts
SELECT g, 1 + g % 500, 'Post number ' || g || ' about ' || (ARRAY['postgres', 'indexes', 'planning', 'caching'])[1 + g % 4],
       repeat('lorem ipsum ', 20), now() - g * interval '10 minutes'
  FROM generate_series(1, 200000) g;
INSERT INTO blog.comments
SELECT g, 1 + (hashint4(g)::bigint & 2147483647) % 200000, 'comment ' || g, now() - g * interval '1 minute'
  FROM generate_series(1, 400000) g;
