/* The bitmap font of core/font.c (internal to the core). */
#ifndef MG_FONT_H
#define MG_FONT_H

#include <stdint.h>

#define MG_FONT_ROWS 9     /* glyph rows: 7 above the baseline, 2 below */
#define MG_FONT_LINE 11    /* distance between lines of text */
#define MG_FONT_GAP 1      /* columns between glyphs */

typedef struct {
    uint8_t width;               /* inked columns */
    uint8_t rows[MG_FONT_ROWS];  /* bit 7 = leftmost column */
} mg_glyph;

const mg_glyph *mg_font_glyph(unsigned char c);

#endif
