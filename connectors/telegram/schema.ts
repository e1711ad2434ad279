import { z } from 'zod';

/**
 * The parts of Telegram's Update and Message (https://core.telegram.org/bots/api#update) the connector reads.
 * Objects are loose on purpose: Telegram adds fields every Bot API release, and an unknown field must never turn a
 * valid update into a rejected one. Every field read is typed and bounded; a wrong type rejects the update.
 */

const int = z.number().int().safe();
const str = (max: number) => z.string().max(max);

export const userSchema = z.looseObject({
  id: int,
  is_bot: z.boolean(),
  first_name: str(1024),
  last_name: str(1024).optional(),
  username: str(256).optional(),
});

export const chatSchema = z.looseObject({
  id: int,
  type: z.enum(['private', 'group', 'supergroup', 'channel']),
  title: str(1024).optional(),
  username: str(256).optional(),
  first_name: str(1024).optional(),
  is_forum: z.boolean().optional(),
});

export const entitySchema = z.looseObject({
  type: str(64),
  offset: int.nonnegative(),
  length: int.nonnegative(),
  user: userSchema.optional(),
  url: str(8192).optional(),
});

const fileFields = {
  file_id: str(256).min(1),
  file_unique_id: str(256).optional(),
  file_size: int.nonnegative().optional(),
};
const fileSchema = z.looseObject({ ...fileFields, file_name: str(1024).optional(), mime_type: str(128).optional() });
const photoSizeSchema = z.looseObject({ ...fileFields, width: int, height: int });

/** The message a reply points at: only who wrote it matters (was it the bot?). */
const repliedSchema = z.looseObject({
  message_id: int,
  from: userSchema.optional(),
  sender_chat: chatSchema.optional(),
  forum_topic_created: z.unknown().optional(),
});

export const messageSchema = z.looseObject({
  message_id: int,
  date: int,
  chat: chatSchema,
  from: userSchema.optional(),
  sender_chat: chatSchema.optional(),
  message_thread_id: int.optional(),
  is_topic_message: z.boolean().optional(),
  edit_date: int.optional(),
  // Bounds far above Telegram's own (4,096 text, 1,024 caption); the 100,000-character rule is checked separately.
  text: z.string().optional(),
  caption: z.string().optional(),
  entities: z.array(entitySchema).max(10_000).optional(),
  caption_entities: z.array(entitySchema).max(10_000).optional(),
  reply_to_message: repliedSchema.optional(),
  photo: z.array(photoSizeSchema).max(64).optional(),
  document: fileSchema.optional(),
  animation: fileSchema.optional(),
  audio: fileSchema.optional(),
  voice: fileSchema.optional(),
  video: fileSchema.optional(),
  video_note: fileSchema.optional(),
  sticker: fileSchema.optional(),
});

export type TelegramUser = z.infer<typeof userSchema>;
export type TelegramChat = z.infer<typeof chatSchema>;
export type TelegramEntity = z.infer<typeof entitySchema>;
export type TelegramMessage = z.infer<typeof messageSchema>;

/** The update kinds the connector turns into events; everything else is counted and audited as unsupported. */
export const MESSAGE_UPDATES = ['message', 'edited_message', 'channel_post', 'edited_channel_post'] as const;
export type MessageUpdate = (typeof MESSAGE_UPDATES)[number];

export const envelopeSchema = z.looseObject({ update_id: int.nonnegative() });

/** Fields every message has; anything else present on a message without text or media names its kind. */
export const MESSAGE_BASE_FIELDS = new Set([
  'message_id', 'date', 'chat', 'from', 'sender_chat', 'message_thread_id', 'is_topic_message', 'edit_date',
  'reply_to_message', 'entities', 'caption_entities', 'author_signature', 'has_protected_content', 'sender_boost_count',
  'forward_origin', 'is_automatic_forward', 'via_bot', 'media_group_id', 'link_preview_options', 'reply_markup',
  'quote', 'external_reply', 'sender_tag', 'is_from_offline', 'effect_id', 'show_caption_above_media',
]);
