"""Redis globs for the unit tests of the flush declaration and the real-Redis check of them."""

# Every spelling that names no key: only stars, ``?`` and classes that take any byte.
EVERY_KEY = ['*', '**', '***', '*?*', '?*', '*?', '?', '??????????*', '[^]*', '*[^]', '[^]?[^]*']
# One literal or one narrower class: some key never matches.
NAMES_SOME = ['a*', '*a*', '\\*', '\\?*', '[^a]*', '[]*', '[a-z]*', '*[^\x00]', ':1:*', ' *', '[^\\]]*',
             '[^\x80-\x00]*',  # a reversed range is swapped: this one takes bytes 0x81-0xff only
             # Redis matches the UTF-8 bytes: U+00FF is c3 bf, so this class stops at c3
             '[\x00-\xff]*']
