/* Lua bindings: nn. */
#include "lua_common.h"

void mgl_open_nn(lua_State *L) { (void)L; }
