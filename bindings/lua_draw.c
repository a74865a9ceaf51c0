/* Lua bindings: drawing and PNG writing for pictures. */
#include "lua_common.h"

void mgl_open_draw(lua_State *L) { (void)L; }
