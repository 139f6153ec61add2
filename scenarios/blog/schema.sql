DROP SCHEMA IF EXISTS blog CASCADE;
CREATE SCHEMA blog;

CREATE TABLE blog.authors (
  id     integer PRIMARY KEY,
  handle text NOT NULL UNIQUE
);

CREATE TABLE blog.posts (
  id           bigint PRIMARY KEY,
  author_id    integer NOT NULL REFERENCES blog.authors (id),
  title        text NOT NULL,
  body         text NOT NULL,
  published_at timestamptz NOT NULL
);
CREATE INDEX posts_published_at_idx ON blog.posts (published_at);
CREATE INDEX posts_title_idx ON blog.posts (title);

CREATE TABLE blog.comments (
  id         bigint PRIMARY KEY,
  post_id    bigint NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL
);
