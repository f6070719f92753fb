-- DDL marks the schema catalog stale: a sequence bump, no lock, no work. The next
-- ai.search_catalog (or the worker) refreshes what changed.
CREATE FUNCTION ai._catalog_ddl_event() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
                       WHERE c.schema_name IS DISTINCT FROM 'ai' AND NOT c.in_extension
                         AND coalesce(c.schema_name, '') !~ '^pg_temp') THEN
            RETURN;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
                      WHERE d.schema_name IS DISTINCT FROM 'ai' AND NOT d.is_temporary) THEN
        RETURN;
    END IF;
    PERFORM nextval('ai.catalog_version');
END;
$$;
COMMENT ON FUNCTION ai._catalog_ddl_event() IS 'Event trigger: marks the schema catalog stale after DDL.';

CREATE EVENT TRIGGER ai_catalog_ddl ON ddl_command_end EXECUTE FUNCTION ai._catalog_ddl_event();
CREATE EVENT TRIGGER ai_catalog_drop ON sql_drop EXECUTE FUNCTION ai._catalog_ddl_event();
