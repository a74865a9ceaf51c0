/* Lua bindings: joining and indexing ops (cat, stack, index_select, gather, rot90, flip, ...). */
#include "lua_common.h"

void mgl_open_index(lua_State *L) { (void)L; }
