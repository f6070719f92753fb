-- What a curator of the superhero database teaches ai.ask: the most frequent words its
-- questions used that the engine could not place (ai.unknown_words), each with what it means
-- here. Written from the schema and its comments, never from the questions' gold SQL.
-- ("id" and "percentage", two of the five, name no one column a curator could point to.)
SELECT ai.teach('heroes', 'superhero');
SELECT ai.teach('superhero', 'superhero');
SELECT ai.teach('weight', 'superhero', 'weight_kg');
