/* Lua bindings: safetensors load and save. */
#include "lua_common.h"

void mgl_open_serialize(lua_State *L) { (void)L; }
