-- DDL marks the schema catalog stale: a sequence bump (no lock) and a row per relation the
-- command touched in ai.catalog_changes (its own table: nothing else waits on it). The next
-- ai.ask or ai.search_catalog (or the worker) refreshes those relations and the ones they
-- are linked to; a change the catalog cannot narrow down (a schema, a type) asks for a
-- refresh of everything.
CREATE FUNCTION ai._catalog_ddl_event() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        INSERT INTO ai.catalog_changes (relid, everything)
        SELECT CASE c.classid WHEN 'pg_catalog.pg_class'::regclass THEN c.objid
                              WHEN 'pg_catalog.pg_constraint'::regclass
                                   THEN (SELECT k.conrelid FROM pg_catalog.pg_constraint k WHERE k.oid = c.objid) END,
               c.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_constraint'::regclass,
                                 'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_trigger'::regclass,
                                 'pg_catalog.pg_policy'::regclass, 'pg_catalog.pg_rewrite'::regclass,
                                 'pg_catalog.pg_statistic_ext'::regclass, 'pg_catalog.pg_event_trigger'::regclass)
          FROM pg_event_trigger_ddl_commands() c
         WHERE c.schema_name IS DISTINCT FROM 'ai' AND NOT c.in_extension
           AND coalesce(c.schema_name, '') !~ '^pg_temp'
           -- privileges are checked when the catalog is read, never stored in it
           AND c.command_tag NOT IN ('GRANT', 'REVOKE', 'ALTER DEFAULT PRIVILEGES');
    ELSE
        INSERT INTO ai.catalog_changes (relid, everything)
        SELECT CASE WHEN d.classid = 'pg_catalog.pg_class'::regclass THEN d.objid END,
               -- what the command named (a table's row type goes with it, unnamed)
               d.original AND d.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_constraint'::regclass,
                                 'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_trigger'::regclass,
                                 'pg_catalog.pg_policy'::regclass, 'pg_catalog.pg_rewrite'::regclass,
                                 'pg_catalog.pg_statistic_ext'::regclass, 'pg_catalog.pg_attrdef'::regclass,
                                 'pg_catalog.pg_event_trigger'::regclass)
          FROM pg_event_trigger_dropped_objects() d
         WHERE d.schema_name IS DISTINCT FROM 'ai' AND NOT d.is_temporary;
    END IF;
    IF FOUND THEN
        PERFORM nextval('ai.catalog_version');
    END IF;
END;
$$;
COMMENT ON FUNCTION ai._catalog_ddl_event() IS 'Event trigger: marks the schema catalog stale after DDL, with the relations it touched.';

CREATE EVENT TRIGGER ai_catalog_ddl ON ddl_command_end EXECUTE FUNCTION ai._catalog_ddl_event();
CREATE EVENT TRIGGER ai_catalog_drop ON sql_drop EXECUTE FUNCTION ai._catalog_ddl_event();
