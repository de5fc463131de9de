-- Databases of the compose deployment: the gateway's exchange store, the connector's reply
-- store, and a demo padrón
-- registry the connector reads (the "legacy system" of a registry owner).
CREATE DATABASE gateway;
CREATE DATABASE connector;
CREATE DATABASE padron;
\connect padron
CREATE TABLE padron_inhabitants (
    document_type     text NOT NULL,
    document_number   text NOT NULL,
    municipality_code text NOT NULL,
    municipality_name text NOT NULL,
    registered_since  date NOT NULL,
    household_size    integer NOT NULL,
    PRIMARY KEY (document_type, document_number)
);
INSERT INTO padron_inhabitants VALUES
    ('NIF', '12345678Z', '28005', 'Alcalá de Henares', '2015-03-01', 3),
    ('NIF', '87654321X', '08019', 'Barcelona', '2020-09-15', 1);
