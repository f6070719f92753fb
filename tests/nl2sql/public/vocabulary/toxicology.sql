-- What a curator of the toxicology database teaches ai.ask: the most frequent words its
-- questions used that the engine could not place (ai.unknown_words), each with what it means
-- here. Written from the schema's comments and BIRD's published evidence ("label = '+'
-- means the molecule is carcinogenic"), never from the questions' gold SQL. ("percentage"
-- and "not", the other two of the five, name no one column a curator could point to.)
SELECT ai.teach('carcinogenic', 'molecule', $$label = '+'$$);
SELECT ai.teach('atom', 'atom');
SELECT ai.teach('molecules', 'molecule');
