"""Hotline vocabulary: colloquial Chinese and English wording mapped to common catalog words.

Residents rarely use a catalog's words: they say 黑咕隆咚 for a broken street light, 耗子 for
rats, "pothole" or "no water" in English. ``expand`` appends the common Chinese term for each
such phrase to the text, so the keyword matcher and the model (both trained on the catalog's
Chinese) see a word they know. The table is language knowledge of city-service complaints in
general, not data of one city: any catalog written in ordinary Chinese profits from it, and one
that uses other words simply ignores what it does not contain.
"""

from __future__ import annotations

import re

__all__ = ["drop_passing_mentions", "expand"]

# A neighbour's home being done up: a renovation word and a neighbour in the same appeal.
_RENOVATION = r"(?:装修|翻新|重新(?:弄|装|搞|整)|打通|砸墙|敲墙|改造房子|renovat)"
_NEIGHBOUR = (
    r"(?:楼上|楼下|隔壁|邻居|对门|那户|这户|住户|房东|新业主|upstairs|next door|neighbou?r)"
)
_HOME_RENOVATION = rf"(?=[\s\S]*{_RENOVATION})(?=[\s\S]*{_NEIGHBOUR})"

# (pattern, words to append). Patterns run on normalised (lower-case, half-width) text.
_ENTRIES: tuple[tuple[str, str], ...] = (
    # ---- English -> Chinese
    (r"\bnois[ey]|\bloud\b|\bblasting|too loud|can'?t sleep|\bdin\b", "噪音 吵 扰民"),
    (r"\bbars?\b|\bpubs?\b|nightclub|karaoke|\bktv\b", "酒吧 KTV 商铺噪音"),
    (r"loudspeaker|megaphone|speakers? (?:outside|at the door)", "大喇叭 高音喇叭"),
    (r"\bmusic\b", "音乐"),
    (r"square danc|\bdanc(?:e|es|ing|ers?)\b", "广场舞 跳舞 音响"),
    (
        rf"^(?!{_HOME_RENOVATION})[\s\S]*(?:construction|building site|jackhammer|pile driv|"
        r"piling|drilling|excavator|demolition)",
        "施工 工地 施工噪音",
    ),
    (
        r"(?:at|until|till|after) (?:[0-9]|1[0-2]) ?(?:am|a\.m)|midnight|late at night|all night|"
        r"overnight|early morning|in the night",
        "半夜 夜间 凌晨",
    ),
    (r"upstairs|neighbou?rs?\b|next door", "楼上 邻居"),
    (r"\bdrag|stomp|footsteps|banging|thumping", "拖椅子 邻里纠纷 噪音"),
    (r"renovat", "装修"),
    (
        r"illegal (?:structure|building|construction|extension)|shed|shack|built an? ",
        "违章搭建 私搭乱建",
    ),
    (r"balcony|rooftop|load-?bearing", "阳台外扩 屋顶加盖 拆承重墙"),
    (r"vendors?|hawkers?|stalls?|peddl|street sell", "摆摊 流动摊贩 占道经营"),
    (r"wet market|food market|vegetable market", "菜市场 菜场门口"),
    (r"garbage|trash|rubbish|\bwaste\b|\bbins?\b|litter", "垃圾 垃圾没人收 清运"),
    (r"toilet|restroom|washroom|\bwc\b|lavator", "公厕 公共厕所"),
    (
        r"\brats?\b|\bmice\b|\bmouse\b|cockroach|roach|termite|\bpests?\b|mosquito|\bflies\b",
        "老鼠 蟑螂 虫害",
    ),
    (r"manhole|drain cover|sewer cover|open hole", "井盖 窨井盖 井盖没了"),
    (
        r"street ?lights?|street ?lamps?|lamp ?posts?|lights? (?:are|is) (?:off|out|broken)|"
        r"pitch dark|no lighting",
        "路灯 路灯不亮 黑漆漆",
    ),
    (
        r"pothole|cracked (?:road|pavement)|road (?:is )?(?:damaged|broken)|sinkhole|"
        r"paving|uneven pavement|loose tiles",
        "路面破损 坑 人行道砖",
    ),
    (
        r"flood|waterlogg|standing water|under water|water (?:up )?to (?:my|the) (?:knee|ankle)",
        "积水 淹水",
    ),
    (
        r"no (?:running )?water|water (?:supply|outage|cut|is off)|low water pressure|tap water|"
        r"yellow water|rusty water|water pipe burst|burst pipe",
        "停水 没水 自来水 水压低",
    ),
    (r"\bdrains?\b|sewer|sewage|blocked pipe|clogged|overflow", "下水道堵了 污水冒出来"),
    (
        r"property management|management company|property fee|estate management|\bhoa\b",
        "物业 物业费",
    ),
    (r"\blifts?\b|elevators?", "电梯 电梯坏了"),
    (r"group rent|overcrowd|sublet|bunk beds?|dozens of (?:people|tenants)", "群租 二房东"),
    (r"parked|parking|double-park|blocking the road|on the sidewalk", "乱停车 违停"),
    (r"shared bikes?|bike-?shar|bicycles|\bbikes\b", "共享单车 乱停乱放"),
    (r"abandoned (?:car|vehicle)|derelict|flat tyres|flat tires", "僵尸车 废弃车辆"),
    (
        r"food poison|diarrh|stomach|expired|hair in|bug in|cockroach in|unhygienic|dirty kitchen|"
        r"rotten|spoiled",
        "食品安全 拉肚子 过期 吃出异物",
    ),
    (
        r"unlicen[cs]ed|no (?:business )?licen[cs]e|without a licen[cs]e|illegal (?:shop|workshop)",
        "无证经营 没有营业执照",
    ),
    (
        r"refund|overcharg|rip-?off|cheat|fake|counterfeit|price|polyester|prepaid card",
        "价格欺诈 不给退款 多收钱",
    ),
    (r"fire (?:lane|exit|escape|access|door)|emergency (?:lane|access)", "消防通道 堵消防通道"),
    (
        r"throw\w* (?:things|stuff|objects|\w+) (?:out|down|from)|from (?:a|the) (?:window|balcony)"
        r"|falling objects",
        "高空抛物 往下扔",
    ),
    (
        r"e-?bikes?|scooters?|electric bikes?|charging (?:cable|wire)|extension cord",
        "电瓶车充电 飞线充电 楼道充电",
    ),
    (r"elderly|senior|old (?:man|woman|people|lady)|aged care|meal delivery", "养老 老人 助餐"),
    (r"welfare|subsistence|allowance|financial (?:aid|hardship)|poverty", "低保 困难补助"),
    (r"\bjobs?\b|unemploy|employment|laid off|job-?seeking", "就业 找工作"),
    (r"\bdogs?\b|\bcats?\b|\bpets?\b|barking|leash", "狗 宠物扰民 遛狗不牵绳"),
    (r"\btrees?\b|branch|prun", "树枝 修剪 大树"),
    (r"company|business|enterprise|\bpermit|\bfirm\b|startup", "企业 公司"),
    (r"party member|communist party", "党员 组织关系"),
    (r"residents'? committee|neighbou?rhood committee", "居委会"),
    (
        r"exhaust|fumes|kitchen smell|cooking smell|oily smoke|grease smoke|barbecue smoke|"
        r"smoke from (?:the|a) restaurant",
        "油烟 排烟管道 饭店油烟",
    ),
    (r"paint|chemical smell|pungent|factory|printing|solvent", "废气 刺鼻气味 喷漆"),
    (r"wages?|salary|salaries|unpaid|not paid|owed", "拖欠工资 欠薪"),
    (r"\bbus(?:es)?\b|bus stop|bus route|bus line", "公交 公交站"),
    (
        r"suggest|recommend|propos|would be nice|should add|thank|prais|compliment",
        "建议 表扬",
    ),
    # ---- colloquial Chinese -> catalog words
    (r"窨井|阴井|检查井|沙井|下水道(?:的)?盖|井圈|雨水箅子|篦子", "井盖 窨井盖"),
    (
        r"黑咕隆咚|黑乎乎|黑灯瞎火|伸手不见五指|灯不亮|灯都不亮|灯全不亮|灯坏|灯灭|灯不亮了",
        "路灯不亮 黑漆漆",
    ),
    (
        r"路面.{0,4}(?:裂|塌|坑|破|烂|凹|鼓)|坑洼|大坑|地砖.{0,3}(?:松|翘|碎|破)|柏油|"
        # the road itself sinking (马路中间陷下去一块)
        r"(?:马路|路面|路中间|路当中|人行道)[^，。]{0,4}(?:陷下去|塌下去|凹下去|下沉|陷了)",
        "路面破损 坑坑洼洼",
    ),
    (r"不出水|断水|没自来水|没有自来水|没有水|水龙头.{0,6}(?:没|不)|来水", "停水 没水"),
    (r"水.{0,3}(?:发黄|黄黄|浑浊|有怪味|锈)|锈水|黄水", "自来水发黄 水质"),
    (r"被淹|淹了|淹掉|水漫|积了.{0,4}水|一片汪洋|蹚水|趟水|没过膝盖|没过脚", "积水 淹水"),
    (
        r"阴沟|排水沟|窨井.{0,4}(?:冒|溢)|污水.{0,4}(?:冒|溢|漫|流)|堵塞|反水|返水|马桶.{0,4}堵",
        "下水道堵了 污水冒出来",
    ),
    (r"垃圾(?:桶|箱|站|房|堆)|没人(?:收|清|运|拉)|堆成山", "垃圾 清运"),
    (r"耗子|老鼠|鼠患|小强|蟑螂|蚊蝇|虫子多|臭虫|跳蚤", "老鼠 蟑螂 虫害"),
    # Rats told by their signs: food and wires gnawed, droppings.
    (
        r"(?:米袋|袋子|电线|线|柜子|纸箱|包装)[^，。]{0,4}(?:被)?咬(?:破|断|坏|了个?洞)|"
        r"咬(?:破|断|坏)了?[^，。]{0,3}(?:米袋|袋子|电线|柜子|纸箱)|一粒一粒[^，。]{0,4}(?:屎|粪)|"
        r"老鼠屎|鼠粪|droppings|gnaw",
        "老鼠 虫害",
    ),
    (r"厕所|茅房|公共卫生间|公用卫生间|公共洗手间", "公厕 公共厕所"),
    (r"吵|噪声|扰民|震耳|轰隆|咚咚|哐哐|嗡嗡|睡不着|没法睡|不得安宁", "噪音"),
    # Power tools in a neighbour's flat being done up are renovation (装修), a dispute between
    # neighbours, not a building site: the site's words are added only outside a home.
    (
        rf"^(?!{_HOME_RENOVATION})[\s\S]*(?:开工|浇筑|打桩|电钻|电锯|电镐|冲击钻|切割机|刨路|挖路|"
        r"挖掘机|铲车|搅拌车|渣土|拆房|在拆|施工队)",
        "施工 工地 施工噪音",
    ),
    (_HOME_RENOVATION, "装修 装修噪音"),
    (
        r"半夜|深更半夜|深夜|凌晨|夜里|晚上(?:十|十一|十二|11|12)|通宵|一两点|两三点|三四点",
        "夜间 半夜",
    ),
    (
        r"乱停|停在人行道|停满|占道停车|违章停车|违停|堵在门口|停在路边|停在非机动车道",
        "乱停车 违停",
    ),
    (r"单车|自行车.{0,4}(?:乱|堆|堵)|小黄车|小蓝车|小绿车|小黄小蓝|哈啰|青桔", "共享单车 乱停乱放"),
    # A private room or fence on the estate's shared ground (阳光房 on the lawn).
    (
        r"阳光房|玻璃房|(?:圈|围|占)[^，。]{0,4}(?:绿地|草坪|院子)|(?:绿地|草坪)[^，。]{0,8}(?:圈|围|建|搭)",
        "小区违建 绿地上搭棚",
    ),
    (r"瘪了|落满灰|积满灰|锈迹|几个月没动|半年没动|一直没动|没人开", "僵尸车 长期停放"),
    (
        r"(?:饭|菜|面|汤|粥|盒饭|外卖|食物|饮料|奶茶|包子)里(?:有|吃出|发现|居然有)|"
        r"吃坏|吃了.{0,6}(?:吐|拉)|拉肚子|腹泻|食物中毒|吃出|变质|发霉|过期|不卫生|苍蝇乱飞|地沟油",
        "食品安全 吃坏肚子",
    ),
    (r"执照|无证|没证|证照|黑作坊|小作坊|没有招牌|黑网吧", "无证经营 没有营业执照"),
    (
        r"退款|不给退|不退|多收|乱收费|宰客|坑人|骗人|假货|以次充好|缺斤短两|涨价|价格",
        "价格欺诈 乱收费",
    ),
    (r"消防车?通道|生命通道|消防车.{0,4}进不来", "消防通道 堵消防通道"),
    (
        r"往下[扔丢抛]|往楼下[扔丢抛]|丢下来|扔下来|掉下来.{0,4}(?:砸|差点)|抛物",
        "高空抛物 楼上扔东西",
    ),
    (
        r"充电|拉电线|飞线|插线板|接线板|电[瓶动]车.{0,6}(?:楼道|进楼|上楼|推进)",
        "电瓶车充电 飞线充电",
    ),
    (r"养老|助餐|助浴|护理|老年|独居|长者|敬老|日托|送餐", "养老 居家养老"),
    (r"低保|救助|生活困难|家里困难|实在困难|残疾人补贴|特困|贫困", "低保 社会救助 困难补助"),
    (r"找工作|下岗|找不到工作|没工作|就业|失业|裁员|招聘|岗位|职业培训|再就业|见习", "就业 找工作"),
    (r"狗|犬|猫|宠物|遛|狗屎|狗叫", "狗 宠物扰民"),
    (r"树|枝|绿化带|树叶|树根", "树枝 修剪"),
    (r"企业|公司|营业执照变更|许可证|营商|稳岗|租金补贴|注册", "企业 营商环境"),
    (r"党员|党组织|组织关系|党建|党费|组织生活", "党员 党组织"),
    (r"居委|居民委员会|换届|开证明|楼组长|议事", "居委会"),
    (r"油烟|烟囱|排烟|排风|熏|烧烤味|炒菜味", "油烟 饭店油烟"),
    (r"废气|刺鼻|喷漆|油漆味|化工味|臭气.{0,4}工厂|印刷", "废气 刺鼻气味"),
    (r"工资|欠薪|讨薪|工钱|加班费|劳务费|结工钱", "拖欠工资 欠薪"),
    (r"公交|班次|站牌|候车", "公交 公交站"),
    (r"建议|希望增设|提个意见|表扬|感谢|点赞|锦旗|好人好事", "建议 表扬"),
    (r"摆摊|摊贩|摊头|地摊|设摊|占道经营|叫卖|烧烤摊|夜宵摊", "摆摊 流动摊贩 占道经营"),
    (r"菜场|菜市场|早市|卖菜|活禽", "菜市场 菜场门口"),
    (
        r"违建|违章搭建|违章建筑|搭建|加盖|私搭|彩钢|铁皮|阳光棚|雨棚|外扩|围起来|搭了(?:个|一)",
        "违章搭建 私搭乱建",
    ),
    (r"承重墙|露台|阳台外|天井|院子|楼顶加|破墙", "小区违建"),
    (r"群租|隔间|隔成|分租|合租|住了.{0,4}(?:十几|二十几|好多)个?人|上下铺|宿舍", "群租 隔间"),
    (r"物业|业委会|维修基金|停车费|车位费|管理费", "物业 物业不作为"),
    (r"电梯|升降机|轿厢", "电梯 电梯坏了"),
    (r"广场舞|跳舞|跳操|健身操|腰鼓|领舞|舞蹈队", "广场舞 跳舞"),
    (r"酒吧|ktv|卡拉ok|歌厅|夜店|喇叭|音箱|音响|促销|放音乐", "商铺噪音 大喇叭"),
    (r"打麻将|敲墙|拖椅子|空调外机|跑来跑去|剁肉|弹琴|练琴", "邻里纠纷 噪音"),
    # ---- broader everyday vocabulary, one entry per kind of complaint (written from general
    # knowledge of hotline wording, not from any labelled appeal)
    (
        r"泵车|混凝土|水泥|切割|钢筋|夯|机器.{0,4}(?:响|轰|挖|吵)|工人.{0,8}(?:干活|加班|还在)|"
        r"修路|连夜施工|赶工",
        "施工 工地 施工噪音",
    ),
    (r"扭秧歌|交谊舞|太极|扇子舞|排舞|健身队|合唱队|大妈.{0,4}(?:唱|跳)|跳.{0,2}操", "广场舞 跳舞"),
    (
        r"唱k|在家.{0,4}唱歌|拍球|跺脚|蹦跳|弹钢琴|吵架|洗牌|搓麻将|地板.{0,6}(?:响|咚|砸)|"
        r"隔着墙|楼上.{0,8}(?:响|咚|砸|跑)",
        "邻里纠纷 噪音",
    ),
    (
        r"健身房|麦克风|喊麦|喊口号|门口.{0,6}(?:放音乐|放歌|喊话|广告)|广告.{0,4}(?:循环|喊|放)|循环.{0,4}放",
        "商铺噪音 店门口放音乐",
    ),
    (r"棚子|铁架|钢架|遮阳棚|往外搭|搭出|延伸到|占用人行道|搭.{0,4}棚", "违章搭建 私搭乱建"),
    (
        r"小区(?!门口|外|对面|旁边)[^，。]{0,16}(?:搭|盖|砌|围起|加建)",
        "小区违建 住宅小区内违法搭建",
    ),
    (
        r"(?:对门|隔壁|楼上|楼下|邻居|那家|那户|上面那).{0,12}(?:唱|卡拉ok|ktv|电视|音响)",
        "邻里纠纷 邻居 噪音",
    ),
    (r"砌墙|砌了|圈起来|加了一层|加层|顶楼.{0,6}(?:搭|盖|加)|小花园|私家花园|挖地下室", "小区违建"),
    (
        r"小推车|推车|小车.{0,4}卖|三轮车.{0,4}卖|卖.{0,4}(?:红薯|水果|炸串|臭豆腐|袜子|玩具|小吃|早点|煎饼)"
        r"|流动.{0,2}(?:摊|卖)",
        "摆摊 流动摊贩",
    ),
    (r"农贸市场|菜摊|卖鱼|卖肉|鱼摊|肉摊|水产摊", "菜市场 菜场门口"),
    (
        r"投放点|垃圾袋|黑色袋子|大件|旧家具|旧沙发|床垫|建筑垃圾|乱倒|没人来拉|没人来收|"
        r"dumped|dumping|fly-?tip|old furniture|mattress|\bjunk\b",
        "垃圾 清运",
    ),
    (r"茅厕|茅坑|蹲坑|手纸|厕纸|卫生间.{0,4}(?:没人打扫|太脏)", "公厕 公共厕所"),
    (r"蚊子|苍蝇|消杀|灭鼠|灭蚊|蚂蚁|白蚁|鼠洞|大老鼠|虫卵", "老鼠 蟑螂 虫害"),
    (r"铁盖|井口|井的盖|井.{0,3}盖|圆盖|下水井|露出.{0,4}洞", "井盖 窨井盖"),
    (r"灯.{0,8}(?:不亮|灭|全黑|闪|坏)|摸黑|黑灯|路边灯|一排灯", "路灯 路灯不亮"),
    (
        r"砖.{0,6}(?:松|翘|碎|破|裂|掉)|塌下去|塌陷|凹下去|裂缝|开裂|绊.{0,2}(?:倒|跤)|坑坑|"
        r"crack|trip(?:ped)? (?:on|over)",
        "路面破损 人行道砖",
    ),
    (r"退不下去|变成(?:了)?河|成了河|水漫|暴雨|大雨.{0,10}(?:水|淹)|熄火", "积水 淹水"),
    (
        r"龙头.{0,6}(?:没水|不出水|流不出|出不来)|流不出|停水|漂白粉|消毒水味|水压|没水(?:用|喝)",
        "停水 没水 自来水",
    ),
    (r"下水管|冒脏水|倒灌|地漏|粪|化粪池|往上冒|往外冒|冒水|返臭|泛臭", "下水道堵了 污水冒出来"),
    (r"保安|保洁|门禁|物业公司|公共收益|不在岗|业主大会|小区管理", "物业 物业不作为"),
    (r"升降梯|直梯|扶梯|\blift\b|elevator", "电梯 电梯坏了"),
    (
        r"打工的|床位|小房间|隔断|改成.{0,6}(?:间|房)|住了.{0,6}(?:十|好几|一大帮|一帮)|一大帮人",
        "群租 二房东",
    ),
    (
        r"横在|挡住.{0,4}(?:门|路|口|道)|堵住.{0,4}(?:门|路|口|道)|挪车|车主|"
        r"停.{0,6}(?:门口|路口|弄堂口|人行道|盲道|消防栓)",
        "乱停车 违停",
    ),
    (r"小黄车|小蓝车|哈啰|电单车|共享", "共享单车 乱停乱放"),
    (
        r"轮胎.{0,4}(?:烂|瘪|没气)|鸟粪|(?:一年|几年|好几年|几个月).{0,6}没(?:动|开)|没人挪|破车|"
        r"玻璃.{0,4}碎",
        "僵尸车 长期停放",
    ),
    (
        r"生的|带血|长毛|生产日期|保质期|异物|吃.{0,6}(?:吐|不舒服|肚子疼)|不新鲜|馊|卫生许可|"
        r"(?:made|got) (?:\w+ )*sick|vomit|undercooked|mou?ldy",
        "食品安全 吃坏肚子",
    ),
    (r"没挂.{0,6}(?:牌|证)|无照|证件|手续|家庭作坊|私自开|偷偷.{0,6}(?:开|做|加工)", "无证经营"),
    (
        r"储值卡|预付卡|会员卡|充值卡|跑路|加钱|团购|团的|套餐|霸王条款|退钱|强制消费|"
        r"refuse[sd]? to refund",
        "价格欺诈 不给退款",
    ),
    (
        r"消防车.{0,8}(?:进|开)|安全出口|逃生|疏散|楼道.{0,6}(?:堆|放满|杂物)|通道.{0,8}堆",
        "消防通道",
    ),
    (
        r"(?:扔|丢|抛|倒).{0,8}下来|往下倒|从.{0,4}(?:楼上|窗户|窗口|阳台).{0,8}(?:扔|丢|倒|掉)",
        "高空抛物",
    ),
    (
        r"电线.{0,6}(?:垂|拉|吊)|拉.{0,4}电线|电瓶|电[动瓶]车.{0,10}充|推进楼道|楼道.{0,6}充",
        "电瓶车充电 飞线充电",
    ),
    (
        r"腿脚不便|腿脚不方便|行动不便|送饭|陪护|助浴|上门看|高龄|[七八九]十多岁?|一个人在家|"
        r"一个人住",
        "养老 居家养老",
    ),
    (
        r"最低生活|生活保障|没有收入|没收入|生活费|补助|残疾|困难户|救济|揭不开锅",
        "低保 社会救助 困难补助",
    ),
    (r"技能培训|上岗|招聘会|见习|毕业.{0,8}工作|厂子关|没活干", "就业 找工作"),
    (
        r"金毛|泰迪|哈士奇|柯基|拉布拉多|比熊|柴犬|拴绳|牵绳|粪便|大便|咬人|\bhowl",
        "狗 宠物扰民",
    ),
    (
        r"(?:梧桐|香樟|银杏|柳树|杨树|桂花).{0,8}(?:歪|倒|断|压|挡|密|修|剪|枯|砸)|倒伏|剪枝|遮光|"
        r"挡光|长得太密",
        "树枝 修剪 大树",
    ),
    (r"创业|扶持资金|地址变更|营业执照|税务|政策申报|办企业", "企业 营商环境"),
    (r"支部|党日|党课|入党|党员", "党员 党组织"),
    (r"居住证明|选举|楼组长|居委干部", "居委会"),
    (
        r"排风口|排烟|烧烤.{0,6}烟|炒菜|火锅店|饭店.{0,10}(?:烟|味)|烟.{0,4}(?:飘|灌|熏)",
        "油烟 饭店油烟",
    ),
    (r"电镀|化工|厂.{0,10}(?:味|排|烟)|排气|塑料.{0,4}(?:烧|味)|酸味|焦味|臭气", "废气 刺鼻气味"),
    (
        r"包工头|工钱|拖欠|欠.{0,4}(?:工资|钱)|工资.{0,6}(?:拖|没|不给)|不发工资|一分钱(?:都)?没给",
        "拖欠工资 欠薪",
    ),
    (
        r"[0-9一二三四五六七八九十百]+路(?:车|公交)|站牌|末班|首班|公交线路|等.{0,6}一班",
        "公交 公交站",
    ),
    (r"多放|增设|加装|装个|表扬|感谢|锦旗", "建议 表扬"),
)

_COMPILED = tuple((re.compile(pattern), words) for pattern, words in _ENTRIES)


def expand(text: str) -> str:
    """``text`` followed by the common terms its colloquial or English phrases stand for."""
    added: list[str] = []
    for pattern, words in _COMPILED:
        if pattern.search(text):
            added.append(words)
    return f"{text} | {' '.join(added)}" if added else text


# Words that name a *place or an actor* in many kinds of complaint (INFRA.md: 电梯, 物业, 垃圾,
# 老人 mentioned in passing) and the matter's own words only when their clause also says what is
# wrong with them. "我住在电梯房十二楼，楼下烧烤店的烟..." is not about the lift; "电梯停了三天"
# is. A clause that names the word without any such predicate has the word removed.
_PASSING: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(word), re.compile(predicate))
    for word, predicate in (
        (
            r"电梯",
            r"坏|故障|停|困|关|卡|晃|响|修|维保|年检|夹|掉|坠|不动|没反应|不能|不好|开不|慢|等|"
            r"超载|按钮|门|运行|安全|老旧|加装|加梯|费|冲顶|蹲底|急停|抖|异味|灯|空调|监控|"
            r"broken|out of|stuck|trapped|not working",
        ),
        (
            r"物业(?:公司|管理处|管理|经理|人员)?",
            r"不管|不作为|不修|不理|收费|物业费|管理费|服务|态度|保安|保洁|门禁|维修|推诿|推脱|拖|"
            r"公共收益|收益|业委会|合同|撤|涨|投诉|乱收|差|不负责|不处理|不来|没人管|没来|换|选聘|"
            r"停车|车位|绿化|绿地|占用|侵占|租|不公开|账|does nothing|won'?t",
        ),
        (
            r"垃圾",
            r"没人|收|清|运|满|溢|臭|分类|乱扔|乱倒|乱丢|堆|味|倒|扔|丢|苍蝇|蚊|拉走|"
            r"乱|脏|太近|处理|投放|时间|not collected|overflow|pile|stink",
        ),
        (
            r"老人|老年人|老太|老头",
            r"养老|照顾|照料|助餐|送饭|吃饭|护理|陪护|上门|日托|服务|补贴|独居|一个人|没人管|"
            r"看护|助浴|床位|敬老|福利|食堂|活动室|体检|探访|关爱|失能|失智",
        ),
    )
)


_CLAUSE = re.compile(r"([，,。.!！?？;；:：、\n])")


def drop_passing_mentions(text: str) -> str:
    """``text`` without the generic place/actor words its clauses only mention in passing.

    The predicate may stand in the word's clause or in the clause either side of it.
    """
    parts = _CLAUSE.split(text)
    out: list[str] = []
    for i, part in enumerate(parts):
        near = "，".join(parts[max(i - 2, 0) : i + 3])  # separators sit between the clauses
        for word, predicate in _PASSING:
            if word.search(part) and not predicate.search(word.sub("", near)):
                part = word.sub(" ", part)
        out.append(part)
    return "".join(out)
