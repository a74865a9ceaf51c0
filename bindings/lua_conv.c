/* Lua bindings: convolutions and pooling. */
#include "lua_common.h"

void mgl_open_conv(lua_State *L) { (void)L; }
