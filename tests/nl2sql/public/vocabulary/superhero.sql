-- What a curator of the superhero database teaches ai.ask: the most frequent words its
-- questions used that the engine could not place (ai.unknown_words), each with what it means
-- here. Written from the schema, never from the questions' gold SQL.
SELECT ai.teach('superheroes', 'superhero');
SELECT ai.teach('heroes', 'superhero');
