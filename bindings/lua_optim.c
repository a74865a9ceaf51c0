/* Lua bindings: optim. */
#include "lua_common.h"

void mgl_open_optim(lua_State *L) { (void)L; }
