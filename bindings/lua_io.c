/* Lua bindings: io. */
#include "lua_common.h"

void mgl_open_io(lua_State *L) { (void)L; }
